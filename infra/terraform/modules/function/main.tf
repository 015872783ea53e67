# One Cloud Function (gen2) with its own service account and ingress.
# Event functions are plain HTTP functions behind push subscriptions we own, so
# that retry and dead-letter policy are ours (see modules/platform/pubsub.tf).
# Two resources, one of which exists: internal functions (ingress internal-only) and public
# ones (the webhook and the registry), so checkov's skips for the internet-facing settings
# sit on the public resource alone.

resource "google_cloudfunctions2_function" "internal" {
  count    = var.public ? 0 : 1
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
    ingress_settings                 = "ALLOW_INTERNAL_ONLY" # Pub/Sub push, Scheduler and Eventarc only
    all_traffic_on_latest_revision   = true
    service_account_email            = var.service_account_email
    environment_variables            = var.environment_variables
    max_instance_request_concurrency = 1

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

resource "google_cloudfunctions2_function" "public" {
  count    = var.public ? 1 : 0
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
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    service_account_email            = var.service_account_email
    environment_variables            = var.environment_variables
    max_instance_request_concurrency = 1

    # checkov:skip=CKV_GCP_124: only the public functions (TradingView's webhook, the API-key registry) live here; the internet must reach them
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

locals {
  # Exactly one of the two exists (a conditional would index the empty one too).
  function = one(concat(google_cloudfunctions2_function.public, google_cloudfunctions2_function.internal))
}

# Before the split every function was `this`: internal ones keep their state; the two public
# ones are replaced once (same name and URL) by their public resource.
moved {
  from = google_cloudfunctions2_function.this
  to   = google_cloudfunctions2_function.internal[0]
}

# Eventarc invokes a Firestore-triggered function with the function's own identity.
resource "google_cloud_run_service_iam_member" "trigger_invoker" {
  count    = var.firestore_document == null ? 0 : 1
  project  = var.project_id
  location = var.region
  service  = local.function.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.service_account_email}"
}

# The webhook must answer TradingView, which cannot present Google credentials:
# it authenticates each request itself (per-strategy passphrase).
resource "google_cloud_run_service_iam_member" "public_invoker" {
  count    = var.public ? 1 : 0
  project  = var.project_id
  location = var.region
  service  = local.function.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
  # checkov:skip=CKV_GCP_102: exists only for the public functions (webhook, registry), which authenticate every request themselves
}
