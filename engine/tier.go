package engine

// TierFor returns the name of the highest tier (largest MinSpend) whose
// MinSpend is at most spend, the first listed on a tie; "" when the
// programme has no tiers or spend is below every tier.
func (p *Programme) TierFor(spend Money) string {
	best := -1
	for i, t := range p.Tiers {
		if t.MinSpend <= spend && (best < 0 || t.MinSpend > p.Tiers[best].MinSpend) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return p.Tiers[best].Name
}

// tierMultiplierPct is the earning multiplier of the named tier in percent:
// 100 for no tier, an unknown tier or a tier without a multiplier.
func (p *Programme) tierMultiplierPct(name string) int64 {
	if name == "" {
		return 100
	}
	for _, t := range p.Tiers {
		if t.Name == name {
			return pctOrHundred(t.MultiplierPct)
		}
	}
	return 100
}

// cardMultiplierPct is the earning multiplier of a card type in percent:
// 100 without a card, for a type the programme does not list, or for a type
// listed without a multiplier (0, as for tiers, reads as "not set").
func (p *Programme) cardMultiplierPct(cardType string) int64 {
	if cardType == "" {
		return 100
	}
	ct, ok := p.Earn.CardTypes[cardType]
	if !ok {
		return 100
	}
	return pctOrHundred(ct.MultiplierPct)
}

func pctOrHundred(pct int64) int64 {
	if pct <= 0 {
		return 100
	}
	return pct
}

// RequiredConsentsGiven reports whether consents (consent id → given)
// holds every consent the programme marks required.
func (p *Programme) RequiredConsentsGiven(consents map[string]bool) bool {
	for _, c := range p.Consents {
		if c.Required && !consents[c.ID] {
			return false
		}
	}
	return true
}
