// Package schema loads a repository's CUE intents against sailplan's embedded schema, validates them and decodes them into Go types.
package schema
