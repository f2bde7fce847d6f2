package engine

// The programme's lot settings, under "earn" (docs/programme-extensions.md):
// expire_after_days, pending_days, expiry_warning_days.

// Limits and defaults of the lot settings.
const (
	// MaxExpireAfterDays bounds expire_after_days at about ten years,
	// like tier_window_days: longer is "never", which is 0.
	MaxExpireAfterDays = 3660
	// MaxPendingDays bounds pending_days at a year: a return window
	// longer than that is not a return window.
	MaxPendingDays = 366
	// MaxExpiryWarningDays bounds expiry_warning_days at a year.
	MaxExpiryWarningDays = 366
	// DefaultExpiryWarningDays is expiry_warning_days when absent.
	DefaultExpiryWarningDays = 30
)

// ExpiryWarningDays is how many days before points expire they are
// announced (member.identify's points.expiring, the receipt, the SMS): 0
// when points never expire or the programme turns warnings off.
func (p *Programme) ExpiryWarningDays() int {
	switch {
	case p.Earn.ExpireAfterDays <= 0:
		return 0
	case p.Earn.ExpiryWarningDays == nil:
		return DefaultExpiryWarningDays
	}
	return *p.Earn.ExpiryWarningDays
}

// lotRules checks the lot settings of earn.
func (v *validator) lotRules(e *EarnRules) {
	if e.ExpireAfterDays < 0 || e.ExpireAfterDays > MaxExpireAfterDays {
		v.addf("earn.expire_after_days", "must be between 0 (never) and %d (MaxExpireAfterDays)", MaxExpireAfterDays)
	}
	switch {
	case e.PendingDays < 0 || e.PendingDays > MaxPendingDays:
		v.addf("earn.pending_days", "must be between 0 and %d (MaxPendingDays)", MaxPendingDays)
	case e.ExpireAfterDays > 0 && e.PendingDays >= e.ExpireAfterDays:
		v.add("earn.pending_days", "must be less than expire_after_days: points would expire before they could be redeemed")
	}
	if w := e.ExpiryWarningDays; w != nil && (*w < 0 || *w > MaxExpiryWarningDays) {
		v.addf("earn.expiry_warning_days", "must be between 0 (no warnings) and %d (MaxExpiryWarningDays)", MaxExpiryWarningDays)
	}
}
