resource "google_compute_network" "gateway" {
  project                 = var.project_id
  name                    = "${var.environment}-gateway"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "gateway" {
  project                  = var.project_id
  name                     = "${var.environment}-gateway"
  region                   = var.region
  network                  = google_compute_network.gateway.id
  ip_cidr_range            = "10.20.0.0/28"
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_router" "gateway" {
  project = var.project_id
  name    = "${var.environment}-gateway"
  region  = var.region
  network = google_compute_network.gateway.id
}

resource "google_compute_router_nat" "gateway" {
  project                            = var.project_id
  name                               = "${var.environment}-gateway"
  router                             = google_compute_router.gateway.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# SSH only through Identity-Aware Proxy's range; IB's API port is never exposed.
resource "google_compute_firewall" "iap_ssh" {
  project       = var.project_id
  name          = "${var.environment}-gateway-iap-ssh"
  network       = google_compute_network.gateway.id
  direction     = "INGRESS"
  source_ranges = ["35.235.240.0/20"]
  target_tags   = ["ib-gateway"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_service_account" "gateway" {
  project      = var.project_id
  account_id   = "${var.environment}-ib-gateway"
  display_name = "IB Gateway VM (${var.environment})"
}

# Pub/Sub and Firestore access are granted per resource by the platform module; the Ops
# Agent (installed by gateway_vm/setup.sh) writes logs and metrics.
resource "google_project_iam_member" "gateway_roles" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.gateway.email}"
}

resource "google_compute_instance" "gateway" {
  project                   = var.project_id
  name                      = "${var.environment}-ib-gateway"
  zone                      = var.zone
  machine_type              = var.machine_type
  tags                      = ["ib-gateway"]
  allow_stopping_for_update = true

  boot_disk {
    initialize_params {
      image = "debian-cloud/debian-12"
      size  = 20
      type  = "pd-balanced"
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.gateway.id
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  service_account {
    email  = google_service_account.gateway.email
    scopes = ["cloud-platform"]
  }

  metadata = {
    enable-oslogin         = "TRUE"
    block-project-ssh-keys = "TRUE"
    serial-port-enable     = "FALSE"
    mt-bundle-url          = var.bundle_url
    mt-bundle-sha256       = var.bundle_sha256
    mt-environment         = var.environment
  }

  metadata_startup_script = file("${path.module}/startup.sh")
  # checkov:skip=CKV_GCP_38: boot disk uses Google-managed encryption; it holds no data beyond IB Gateway settings
}
