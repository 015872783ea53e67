# The whole fund platform for one environment. Files by concern:
# functions.tf (every function), pubsub.tf, iam.tf, firestore.tf, secrets.tf,
# scheduler.tf, dashboards.tf, gateway.tf, monitoring.tf (uptime check, log-based metrics,
# alert policies, budget).

terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.30, < 7.0"
    }
    # Service identities (the Pub/Sub and IAP agents) and IAP on Cloud Run are beta-only.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.30, < 7.0"
    }
  }
}

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  apis = [
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "pubsub.googleapis.com",
    "firestore.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "iap.googleapis.com",
    "eventarc.googleapis.com", # Firestore-triggered functions (raw_signals)
    "iam.googleapis.com",
    "storage.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "billingbudgets.googleapis.com",
  ]
}

resource "google_project_service" "api" {
  for_each           = toset(local.apis)
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# The Pub/Sub service agent exists only once something asks for it: grants to it (dead-letter
# forwarding, OIDC tokens) wait for this, not for the API alone.
resource "google_project_service_identity" "pubsub" {
  provider   = google-beta
  project    = var.project_id
  service    = "pubsub.googleapis.com"
  depends_on = [google_project_service.api]
}

# IAP's agent invokes the dashboards once IAP has let a viewer through (dashboards.tf).
resource "google_project_service_identity" "iap" {
  provider   = google-beta
  project    = var.project_id
  service    = "iap.googleapis.com"
  depends_on = [google_project_service.api]
}

locals {
  pubsub_service_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"
}
