# Secret Manager secrets the functions read as environment variables. Values are
# added out of band (`gcloud secrets versions add`); Terraform never holds them.
locals {
  secrets = toset(distinct(flatten([for fn in local.functions : values(fn.secrets)])))
}

resource "google_secret_manager_secret" "secret" {
  for_each  = local.secrets
  project   = var.project_id
  secret_id = "${var.environment}-${each.value}"

  replication {
    auto {}
  }
  # checkov:skip=CKV_GCP_125: automatic replication with Google-managed keys is adequate for these credentials
}

# IB Gateway's login, read only by the gateway VM's setup into root-only files.
resource "google_secret_manager_secret" "ib_login" {
  for_each  = toset(["ib-username", "ib-password"])
  project   = var.project_id
  secret_id = "${var.environment}-${each.value}"

  replication {
    auto {}
  }
  # checkov:skip=CKV_GCP_125: automatic replication with Google-managed keys is adequate for these credentials
}

resource "google_secret_manager_secret_iam_member" "gateway_reads_ib_login" {
  for_each  = google_secret_manager_secret.ib_login
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${module.gateway_vm.service_account_email}"
}
