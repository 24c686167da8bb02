// Package sync pulls intents from Git and server-side-applies what render makes of them to every cluster of the fleet.
package sync
