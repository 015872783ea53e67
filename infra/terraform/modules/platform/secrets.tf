# Secret Manager secrets. Terraform creates them empty and never holds their values: the
# runbook (docs/deploy.md) adds each value with `gcloud secrets versions add` after the first
# apply, then lists the secret in configured_secrets so the functions mount it (a function
# whose `latest` version does not exist fails to deploy). They come from the functions'
# secret_env (functions.tf): telegram-bot-token, zerodha-accounts, broker-token-key (encrypts
# Kite session tokens in Firestore) and broker-token-key-previous (only during a key rotation).
locals {
  secrets = toset(values(local.secret_ids))
}

resource "google_secret_manager_secret" "secret" {
  for_each  = local.secrets
  project   = var.project_id
  secret_id = "${var.environment}-${each.value}"

  replication {
    auto {}
  }
  depends_on = [google_project_service.api]
}

# IB Gateway's login, read only by the gateway VM's setup into root-only files. The VM's
# bundle sync (modules/gateway_vm/startup.sh) retries until both have a version.
resource "google_secret_manager_secret" "ib_login" {
  for_each  = toset(["ib-username", "ib-password"])
  project   = var.project_id
  secret_id = "${var.environment}-${each.value}"

  replication {
    auto {}
  }
  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_iam_member" "gateway_reads_ib_login" {
  for_each  = google_secret_manager_secret.ib_login
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${module.gateway_vm.service_account_email}"
}
