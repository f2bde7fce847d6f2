package sms

import "testing"

// StartTestSMSC starts the npm smpp SMSC for the node-level test in
// package sms_test; texts lists "to text" of every submit_sm so far.
func StartTestSMSC(t *testing.T, env ...string) (addr, systemID, password string, texts func() []string) {
	s := startSMSC(t, env...)
	return s.addr, testSystemID, testPassword, func() []string {
		var out []string
		for _, e := range s.of("submit_sm") {
			out = append(out, e.To+" "+e.Text)
		}
		return out
	}
}
