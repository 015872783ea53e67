# Streamlit dashboards on Cloud Run: authenticated (no allUsers), each viewer
# listed in dashboard_invokers. The app holds no data access of its own: every page
# reads and writes through the registry API with the viewer's API key, so the API
# alone decides what each role (admin/client/developer) may see.

resource "google_service_account" "dashboards" {
  project      = var.project_id
  account_id   = "${var.environment}-dashboards"
  display_name = "Streamlit dashboards (${var.environment})"
}

resource "google_cloud_run_v2_service" "dashboards" {
  project  = var.project_id
  name     = "${var.environment}-dashboards"
  location = var.region
  ingress  = "INGRESS_TRAFFIC_ALL"

  template {
    service_account = google_service_account.dashboards.email
    # A login session lives in the instance that opened it: keep each browser on it.
    session_affinity = true
    scaling {
      min_instance_count = 0
      max_instance_count = 3
    }
    containers {
      image = var.dashboard_image
      ports {
        container_port = 8501
      }
      env {
        name  = "MT_API_URL"
        value = module.function["strategy_registry"].uri
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "dashboard_viewer" {
  for_each = toset(var.dashboard_invokers)
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.dashboards.name
  role     = "roles/run.invoker"
  member   = each.value
}
