variable "project_id" {
  description = "GCP project."
  type        = string
}

variable "region" {
  description = "Region of the subnet, router and NAT."
  type        = string
}

variable "zone" {
  description = "Zone of the VM."
  type        = string
}

variable "environment" {
  description = "staging or production."
  type        = string
}

variable "machine_type" {
  description = "VM size; IB Gateway needs about 1.5 GB of memory."
  type        = string
}

variable "bundle_url" {
  description = "gs:// URL of the gateway_vm bundle installed at boot."
  type        = string
}

variable "bundle_sha256" {
  description = "SHA-256 of the bundle: the VM installs a bundle only when its hash matches."
  type        = string
}
