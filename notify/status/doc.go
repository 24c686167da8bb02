// Package status keeps the fleet model's status in every cluster, and reads it back for `sailplan status`.
package status
