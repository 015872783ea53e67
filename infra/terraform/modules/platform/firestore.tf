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

# Queries that filter on fields by equality and order by another need a composite index
# (equality fields ascending, then the order field). shared/domain/schema.py lists them (INDEXES);
# tests/infra/test_firestore_indexes.py checks this map equals that list and that the list holds
# exactly what every store.query(...) in the code needs.
locals {
  composite_indexes = {
    strategies_by_owner        = { collection = "strategies", fields = [["owner", "ASCENDING"], ["strategy_id", "ASCENDING"]] }
    fills_by_account_newest    = { collection = "execution_confirmations", fields = [["account_id", "ASCENDING"], ["filled_at", "DESCENDING"]] }
    account_history_newest     = { collection = "account_history", fields = [["account_id", "ASCENDING"], ["at", "DESCENDING"]] }
    account_history_oldest     = { collection = "account_history", fields = [["account_id", "ASCENDING"], ["at", "ASCENDING"]] }
    signals_by_strategy_newest = { collection = "signal_store", fields = [["strategy_id", "ASCENDING"], ["received_at", "DESCENDING"]] }
  }
}

resource "google_firestore_index" "query" {
  for_each   = local.composite_indexes
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = each.value.collection

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
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
