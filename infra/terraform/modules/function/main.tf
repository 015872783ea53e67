# One Cloud Function (gen2) with its own service account and ingress.
# Event functions are plain HTTP functions behind push subscriptions we own, so
# that retry and dead-letter policy are ours (see modules/platform/pubsub.tf).

resource "google_cloudfunctions2_function" "this" {
  name     = "${var.environment}-${replace(var.name, "_", "-")}"
  project  = var.project_id
  location = var.region

  build_config {
    runtime     = "python311"
    entry_point = var.entry_point
    source {
      storage_source {
        bucket = var.source_bucket
        object = var.source_object
      }
    }
  }

  service_config {
    min_instance_count               = var.min_instances
    max_instance_count               = var.max_instances
    available_memory                 = var.memory
    timeout_seconds                  = var.timeout_seconds
    ingress_settings                 = var.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = var.service_account_email
    environment_variables            = var.environment_variables
    max_instance_request_concurrency = 1

    # checkov:skip=CKV_GCP_124: ingress is ALLOW_ALL only when var.public (the TradingView webhook); every other function is internal-only
    dynamic "secret_environment_variables" {
      for_each = var.secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  # A Firestore-triggered function: Eventarc delivers each document created under the
  # pattern as a CloudEvent (protobuf DocumentEventData), retried until it answers 2xx.
  dynamic "event_trigger" {
    for_each = var.firestore_document == null ? [] : [var.firestore_document]
    content {
      trigger_region        = var.region # the Firestore database's location
      event_type            = "google.cloud.firestore.document.v1.created"
      retry_policy          = "RETRY_POLICY_RETRY"
      service_account_email = var.service_account_email
      event_filters {
        attribute = "database"
        value     = var.firestore_database
      }
      event_filters {
        attribute = "document"
        value     = event_trigger.value
        operator  = "match-path-pattern"
      }
    }
  }
}

# Eventarc invokes a Firestore-triggered function with the function's own identity.
resource "google_cloud_run_service_iam_member" "trigger_invoker" {
  count    = var.firestore_document == null ? 0 : 1
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.service_account_email}"
}

# The webhook must answer TradingView, which cannot present Google credentials:
# it authenticates each request itself (per-strategy passphrase).
resource "google_cloud_run_service_iam_member" "public_invoker" {
  count    = var.public ? 1 : 0
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
  # checkov:skip=CKV_GCP_102: the TradingView webhook is public by nature; each request is authenticated by the function
}
