# Streamlit dashboards on Cloud Run: authenticated (no allUsers), each viewer
# listed in dashboard_invokers; the app itself checks roles (admin/client/developer).

resource "google_service_account" "dashboards" {
  project      = var.project_id
  account_id   = "${var.environment}-dashboards"
  display_name = "Streamlit dashboards (${var.environment})"
}

resource "google_project_iam_member" "dashboards_firestore" {
  project = var.project_id
  role    = "roles/datastore.viewer"
  member  = "serviceAccount:${google_service_account.dashboards.email}"
}

resource "google_cloud_run_v2_service" "dashboards" {
  project  = var.project_id
  name     = "${var.environment}-dashboards"
  location = var.region
  ingress  = "INGRESS_TRAFFIC_ALL"

  template {
    service_account = google_service_account.dashboards.email
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
        name  = "MT_STORE"
        value = "firestore"
      }
      env {
        name  = "GOOGLE_CLOUD_PROJECT"
        value = var.project_id
      }
      env {
        name  = "MT_ENVIRONMENT"
        value = var.environment
      }
      env {
        # Reads go to Firestore (read-only role); every change goes through the registry
        # API with the logged-in user's own key.
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
