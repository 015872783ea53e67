resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.environment}-scheduler"
  display_name = "Cloud Scheduler caller (${var.environment})"
  depends_on   = [google_project_service.api]
}

resource "google_cloud_run_service_iam_member" "scheduler_invoker" {
  project  = var.project_id
  location = var.region
  service  = module.function["account_poller"].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

# The fund's minute: refresh account snapshots, release signals held for an open, and send
# the risk-refusal digest (the account_poller function's tick).
resource "google_cloud_scheduler_job" "account_poller" {
  project          = var.project_id
  region           = var.region
  name             = "${var.environment}-account-poller"
  schedule         = var.poll_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = module.function["account_poller"].uri
    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = module.function["account_poller"].uri
    }
  }
}

# Dashboards are refreshed on every fill; this tick also catches what moves without one
# (snapshots, prices, uploaded returns).
resource "google_cloud_scheduler_job" "dashboard_refresh" {
  project   = var.project_id
  region    = var.region
  name      = "${var.environment}-dashboard-refresh"
  schedule  = var.dashboard_refresh_schedule
  time_zone = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.topic["dashboard-refresh"].id
    data       = base64encode(jsonencode({ refresh = "all" }))
  }
}

# The day's summary on Telegram (signals, fills, rejections), after the US close.
resource "google_cloud_scheduler_job" "daily_summary" {
  project   = var.project_id
  region    = var.region
  name      = "${var.environment}-daily-summary"
  schedule  = var.daily_summary_schedule
  time_zone = "America/New_York"

  pubsub_target {
    topic_name = google_pubsub_topic.topic["notifications"].id
    data       = base64encode(jsonencode({ kind = "daily_summary" }))
  }
}
