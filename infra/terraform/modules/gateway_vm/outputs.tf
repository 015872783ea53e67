output "instance_name" {
  description = "Name of the VM."
  value       = google_compute_instance.gateway.name
}

output "service_account_email" {
  description = "The VM's identity."
  value       = google_service_account.gateway.email
}
