// Package loop runs work every interval and whenever something asks for it, one run at a time, with the asks that come meanwhile coalesced into one run.
package loop
