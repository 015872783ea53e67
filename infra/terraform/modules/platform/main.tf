# The whole fund platform for one environment. Files by concern:
# functions.tf (every function), pubsub.tf, iam.tf, firestore.tf, secrets.tf,
# scheduler.tf, dashboards.tf, gateway.tf.

terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.30, < 7.0"
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
  ]
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_project_service" "api" {
  for_each           = toset(local.apis)
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
