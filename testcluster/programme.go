package testcluster

import (
	"encoding/json"
	"fmt"
)

// Programme is the cluster's default programme: one product (BK1, 100.00),
// one point per 1.00 spent, points worth 0.01 each, redemption up to the
// whole bill without OTP (a simulated till cannot read texts), and the
// given offline allowance.
func Programme(offlineAllowance int64) []byte {
	doc := map[string]any{
		"version": fmt.Sprintf("testcluster-%d", offlineAllowance), "currency": "INR", "minor_digits": 2,
		"default_country_code": "+91",
		"catalogue": map[string]any{"products": []any{map[string]any{"sku": "BK1", "category": "books"}},
			"default_product": map[string]any{"sku": "DEFAULT", "category": "uncategorised"}},
		"earn": map[string]any{"rates": []any{map[string]any{"category": "*", "points": 1, "per": 100}}},
		"redeem": map[string]any{"point_value": 1, "min_points": 0, "max_share_pct": 100, "otp": "off",
			"offline_allowance_points": offlineAllowance},
		"campaigns": []any{},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic("testcluster: programme: " + err.Error()) // a map of literals always encodes
	}
	return b
}

// unitPrice is BK1's price in minor units: a sale of one earns 100 points.
const unitPrice = 10000
