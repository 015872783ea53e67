# One service account per function, granted only what that function does. Account ids
# must be 6-30 characters, so the environment is abbreviated (prod-fn-strategy-registry).

locals {
  env_short = { staging = "stg", production = "prod" }[var.environment]
}

resource "google_service_account" "function" {
  for_each     = local.functions
  project      = var.project_id
  account_id   = "${local.env_short}-fn-${replace(each.key, "_", "-")}"
  display_name = "Function ${each.key} (${var.environment})"
  depends_on   = [google_project_service.api]
}

resource "google_project_iam_member" "function_firestore" {
  for_each = local.functions
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}

locals {
  function_publishes = merge([
    for name, fn in local.functions : { for topic in fn.publishes : "${name}/${topic}" => { function = name, topic = topic } }
  ]...)
  function_secrets = merge([
    for name, fn in local.functions : { for env_name in fn.secret_env : "${name}/${env_name}" => { function = name, secret = local.secret_ids[env_name] } }
  ]...)
}

resource "google_pubsub_topic_iam_member" "function_publisher" {
  for_each = local.function_publishes
  project  = var.project_id
  topic    = local.topic_ids[each.value.topic]
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_secret_manager_secret_iam_member" "function_secret" {
  for_each  = local.function_secrets
  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# Firestore-triggered functions: their identity receives the Eventarc events (the module
# grants it run.invoker on the function itself).
resource "google_project_iam_member" "function_event_receiver" {
  for_each = { for name, fn in local.functions : name => fn if fn.firestore_trigger != null }
  project  = var.project_id
  role     = "roles/eventarc.eventReceiver"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}
