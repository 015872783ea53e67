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
