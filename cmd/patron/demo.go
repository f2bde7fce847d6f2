package main

import _ "embed"

// demoProgramme is the programme patron dev loads when none is given: the
// seed campaigns, category earning, card types, tiers, consents and a
// coupon, so every till method has something to show.
//
//go:embed demo/programme.json
var demoProgramme []byte
