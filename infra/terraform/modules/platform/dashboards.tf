# Streamlit dashboards on Cloud Run behind Identity-Aware Proxy (IAP on the service itself:
# no load balancer). A viewer signs in with Google; IAP lets through only dashboard_invokers
# (roles/iap.httpsResourceAccessor) and calls the service as its own agent, the one principal
# with run.invoker. The app holds no data access of its own: every page reads and writes through
# the registry API (MT_API_URL) with the viewer's API key, so the API alone decides what each
# role (admin/client/developer) may see. No Firestore role.

resource "google_service_account" "dashboards" {
  project      = var.project_id
  account_id   = "${var.environment}-dashboards"
  display_name = "Streamlit dashboards (${var.environment})"
  depends_on   = [google_project_service.api]
}

resource "google_cloud_run_v2_service" "dashboards" {
  provider     = google-beta # iap_enabled
  project      = var.project_id
  name         = "${var.environment}-dashboards"
  location     = var.region
  ingress      = "INGRESS_TRAFFIC_ALL"
  launch_stage = "BETA"
  iap_enabled  = true

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
  depends_on = [google_project_service.api]
}

# IAP forwards each allowed request as its service agent.
resource "google_cloud_run_v2_service_iam_member" "iap_invokes_dashboards" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.dashboards.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_project_service_identity.iap.email}"
}

# Who may open the dashboards (dashboard_invokers in the environment's terraform.tfvars).
resource "google_iap_web_cloud_run_service_iam_member" "dashboard_viewer" {
  provider               = google-beta
  for_each               = toset(var.dashboard_invokers)
  project                = var.project_id
  location               = var.region
  cloud_run_service_name = google_cloud_run_v2_service.dashboards.name
  role                   = "roles/iap.httpsResourceAccessor"
  member                 = each.value
}
