# The always-on IB Gateway VM: no public IP (egress through Cloud NAT), shielded,
# OS Login, its own service account. It installs gateway_vm/ from a bundle at boot and then
# every five minutes checks the metadata for a new one: an apply that uploads a new bundle
# (Cloud Build's terraform step) changes mt-bundle-url and mt-bundle-sha256, and the VM
# fetches it, verifies the hash and re-runs its setup. No manual step, no restart.

resource "google_storage_bucket_object" "gateway_bundle" {
  name   = "gateway-${filesha256(var.gateway_bundle)}.zip"
  bucket = google_storage_bucket.function_source.name
  source = var.gateway_bundle
}

module "gateway_vm" {
  source = "../gateway_vm"

  project_id    = var.project_id
  region        = var.region
  zone          = var.zone
  environment   = var.environment
  machine_type  = var.gateway_machine_type
  bundle_url    = "gs://${google_storage_bucket.function_source.name}/${google_storage_bucket_object.gateway_bundle.name}"
  bundle_sha256 = filesha256(var.gateway_bundle)

  depends_on = [google_project_service.api]
}

resource "google_storage_bucket_iam_member" "gateway_reads_bundle" {
  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${module.gateway_vm.service_account_email}"
}
