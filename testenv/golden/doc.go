// Package golden compares test output with checked-in files, which UPDATE_GOLDEN=1 rewrites.
package golden
