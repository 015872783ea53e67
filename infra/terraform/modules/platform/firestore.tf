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

# Queries that filter on one field and order by another (see shared/ports/store.py):
# the journey's raw records, and the dashboards' recent signals, fills and equity curves.
locals {
  composite_indexes = {
    raw_signals_by_strategy    = { collection = "trading_signals_raw", filter = "strategy_id", order = "received_at", direction = "DESCENDING" }
    signals_by_strategy        = { collection = "signal_store", filter = "strategy_id", order = "received_at", direction = "DESCENDING" }
    fills_by_account           = { collection = "execution_confirmations", filter = "account_id", order = "filled_at", direction = "DESCENDING" }
    fills_by_strategy          = { collection = "execution_confirmations", filter = "strategy_id", order = "filled_at", direction = "DESCENDING" }
    account_history_by_account = { collection = "account_history", filter = "account_id", order = "at", direction = "DESCENDING" }
  }
}

resource "google_firestore_index" "query" {
  for_each   = local.composite_indexes
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = each.value.collection

  fields {
    field_path = each.value.filter
    order      = "ASCENDING"
  }
  fields {
    field_path = each.value.order
    order      = each.value.direction
  }
}

# Refused webhook and API deliveries (shared/services/refusals.py) are an audit trail, not
# a record to keep: Firestore deletes each once its expires_at Timestamp has passed (within
# about a day; the fund's tick also prunes). The field is never queried, so it is not indexed.
resource "google_firestore_field" "refused_deliveries_ttl" {
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = "refused_deliveries"
  field      = "expires_at"

  ttl_config {}
  index_config {}
}
