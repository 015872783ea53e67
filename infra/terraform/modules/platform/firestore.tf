resource "google_firestore_database" "main" {
  project                           = var.project_id
  name                              = "(default)"
  location_id                       = var.region
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"
  depends_on                        = [google_project_service.api]
}

# Queries that filter on one field and order by another (see shared/ports/store.py).
resource "google_firestore_index" "raw_signals_by_strategy" {
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = "trading_signals_raw"

  fields {
    field_path = "strategy_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "received_at"
    order      = "DESCENDING"
  }
}
