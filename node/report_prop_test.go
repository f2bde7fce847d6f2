package node

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"pgregory.net/rapid"
)

// TestReportsMatchBruteForce: for random event sets applied in random
// interleavings, the indexes do not depend on the arrival order and equal
// a rebuild from the fold, and the reports answered from them (counters
// plus edge rows) equal a brute-force pass over the events for random
// filters.
func TestReportsMatchBruteForce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		origins := genEvents(rt)
		a := openReportNode(t)
		b := openReportNode(t)
		for _, evs := range origins {
			if _, err := a.ApplyEvents(ctx, rawEvents(t, evs)); err != nil {
				rt.Fatal(err)
			}
		}
		// b: a random interleaving, one event at a time.
		next := make([]int, len(origins))
		for left := countEvents(origins); left > 0; left-- {
			var open []int
			for i := range origins {
				if next[i] < len(origins[i]) {
					open = append(open, i)
				}
			}
			i := rapid.SampledFrom(open).Draw(rt, "origin")
			if _, err := b.ApplyEvents(ctx, rawEvents(t, origins[i][next[i]:next[i]+1])); err != nil {
				rt.Fatal(err)
			}
			next[i]++
		}
		da := dumpIndexes(t, a)
		if d := diffDumps(da, dumpIndexes(t, b)); d != "" {
			rt.Fatalf("indexes depend on arrival order:\n%s", d)
		}
		if err := b.db.Update(buildReportIndexes); err != nil {
			rt.Fatal(err)
		}
		if d := diffDumps(da, dumpIndexes(t, b)); d != "" {
			rt.Fatalf("rebuild differs from live indexes:\n%s", d)
		}
		var all []engine.Event
		for _, evs := range origins {
			all = append(all, evs...)
		}
		for range 4 {
			f := genFilter(rt)
			sf := f
			sf.Member = ""
			check := func(name string, f ReportFilter, want []string) {
				_, got := run(t, a, name, f)
				if !slices.Equal(got, want) {
					rt.Fatalf("%s %+v:\ngot\n%s\nwant\n%s", name, f, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			check("sales-vs-redemption", sf, bruteSales(all, sf))
			lf := sf
			lf.ProgrammeVersion = ""
			check("point-ledger", lf, bruteLedger(all, lf))
			check("card-types", ReportFilter{Store: lf.Store, From: lf.From, To: lf.To}, bruteCards(all, lf))
		}
	})
}

var propStart = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// genEvents draws the events of two or three origins.
func genEvents(rt *rapid.T) [][]engine.Event {
	nStores := rapid.IntRange(2, 3).Draw(rt, "stores")
	members := []string{mA, mB, mC}
	var receipts []string
	out := make([][]engine.Event, nStores)
	for s := range nStores {
		store := fmt.Sprintf("S%d", s+1)
		b := &evb{origin: store, store: store}
		n := rapid.IntRange(0, 12).Draw(rt, "events")
		for i := range n {
			when := propStart.Add(time.Duration(rapid.IntRange(0, 3*24*60*60).Draw(rt, "second")) * time.Second)
			m := rapid.SampledFrom(members).Draw(rt, "member")
			card := rapid.SampledFrom([]string{"K1", "K2"}).Draw(rt, "card") + m[len(m)-1:]
			switch rapid.IntRange(0, 5).Draw(rt, "kind") {
			case 0:
				b.enrol(when, m, card, rapid.SampledFrom([]string{"gold", "classic"}).Draw(rt, "type"))
			case 1:
				b.card(rapid.SampledFrom([]engine.EventKind{engine.EventCardIssued, engine.EventCardBlocked, engine.EventCardUnblocked}).Draw(rt, "op"),
					when, m, card, rapid.SampledFrom([]string{"gold", "classic"}).Draw(rt, "type"), "r")
			case 2, 3, 4:
				receipt := fmt.Sprintf("%s-R%d", store, i)
				receipts = append(receipts, receipt)
				if rapid.Bool().Draw(rt, "anonymous") {
					m = ""
				}
				var lines []sl
				for range rapid.IntRange(1, 2).Draw(rt, "lines") {
					qty := int64(rapid.IntRange(1, 3).Draw(rt, "qty"))
					gross := engine.Money(qty * 1000)
					disc := engine.Money(rapid.IntRange(0, 100).Draw(rt, "disc"))
					lines = append(lines, sl{sku: rapid.SampledFrom([]string{"BK1", "PEN1", "X9"}).Draw(rt, "sku"), qty: qty,
						gross: gross, net: gross - disc, paid: gross - disc})
				}
				entries := map[engine.EntryKind]engine.Points{}
				if m != "" {
					entries[engine.EntryEarn] = engine.Points(rapid.IntRange(0, 50).Draw(rt, "earn"))
					entries[engine.EntryBonus] = engine.Points(rapid.IntRange(0, 5).Draw(rt, "bonus"))
					entries[engine.EntryRedeem] = -engine.Points(rapid.IntRange(0, 5).Draw(rt, "redeem"))
				}
				b.sale(when, receipt, m, rapid.SampledFrom([]string{"v1", "v2"}).Draw(rt, "version"), lines, nil, entries)
			case 5:
				if len(receipts) == 0 {
					continue
				}
				r := rapid.SampledFrom(receipts).Draw(rt, "receipt")
				if rapid.Bool().Draw(rt, "anonymous") {
					m = ""
				}
				claw := engine.Points(0)
				if m != "" {
					claw = engine.Points(rapid.IntRange(0, 9).Draw(rt, "claw"))
				}
				b.ret(when, r, fmt.Sprintf("n%d", i), m, 1, 1, 500, claw)
			}
		}
		out[s] = b.out
	}
	return out
}

func countEvents(o [][]engine.Event) int {
	n := 0
	for _, e := range o {
		n += len(e)
	}
	return n
}

// genFilter draws a filter: a store or none, bounds on any second or
// none, a programme version or none.
func genFilter(rt *rapid.T) ReportFilter {
	var f ReportFilter
	f.Store = rapid.SampledFrom([]string{"", "S1", "S2"}).Draw(rt, "fstore")
	f.ProgrammeVersion = rapid.SampledFrom([]string{"", "v1", "v2"}).Draw(rt, "fversion")
	sec := func(label string) time.Time {
		return propStart.Add(time.Duration(rapid.IntRange(-3600, 3*24*3600+3600).Draw(rt, label)) * time.Second)
	}
	if rapid.Bool().Draw(rt, "hasfrom") {
		f.From = sec("from")
	}
	if rapid.Bool().Draw(rt, "hasto") {
		f.To = sec("to")
		if !f.From.IsZero() && !f.From.Before(f.To) {
			f.From, f.To = f.To.Add(-time.Second), f.From.Add(time.Second)
		}
	}
	return f
}

func inFilter(f ReportFilter, store string, when time.Time) bool {
	return (f.Store == "" || f.Store == store) && (f.From.IsZero() || !when.Before(f.From)) && (f.To.IsZero() || when.Before(f.To))
}

var kolkata = func() *time.Location {
	l, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		panic(err)
	}
	return l
}()

// bruteSales is sales-vs-redemption by a pass over the events.
func bruteSales(all []engine.Event, f ReportFilter) []string {
	versions := map[string]string{}
	for _, ev := range all {
		if ev.Sale != nil {
			versions[ev.Sale.ReceiptID] = ev.Sale.ProgrammeVersion
		}
	}
	sums := map[string][]int64{}
	for _, ev := range all {
		if !inFilter(f, ev.Store, ev.At) || (ev.Sale == nil && ev.Return == nil) {
			continue
		}
		v := make([]int64, salesWidth)
		version := ""
		if s := ev.Sale; s != nil {
			version = s.ProgrammeVersion
			v[sSales], v[sGross], v[sNet] = 1, int64(s.Evaluation.Totals.Gross), int64(s.Evaluation.Totals.Net)
			v[sDiscount] = v[sGross] - v[sNet]
			if ev.Member != "" {
				v[sMemberSales] = 1
			}
			for _, l := range s.Evaluation.Lines {
				v[sPaid] += int64(l.Paid)
			}
			v[sRedeemedValue] = v[sNet] - v[sPaid]
			for _, e := range s.Entries {
				switch e.Kind {
				case engine.EntryEarn:
					v[sEarned] += int64(e.Points)
				case engine.EntryBonus:
					v[sBonus] += int64(e.Points)
				case engine.EntryRedeem:
					v[sRedeemed] -= int64(e.Points)
				}
			}
		} else {
			version = versions[ev.Return.ReceiptID]
			v[sReturns], v[sReturnedMoney] = 1, int64(ev.Return.Result.Money)
			for _, e := range ev.Return.Entries {
				if e.Points < 0 {
					v[sClawedBack] -= int64(e.Points)
				} else {
					v[sRefunded] += int64(e.Points)
				}
			}
		}
		if f.ProgrammeVersion != "" && version != f.ProgrammeVersion {
			continue
		}
		k := ev.Store + "," + ev.At.In(kolkata).Format(time.DateOnly)
		if sums[k] == nil {
			sums[k] = make([]int64, salesWidth)
		}
		addVec(sums[k], v)
	}
	var out []string
	for _, k := range sortedKeys(sums) {
		out = append(out, strings.Join(sumsRow([]string{k}, sums[k]), ","))
	}
	return out
}

// bruteLedger is the point-ledger summary by a pass over the events.
func bruteLedger(all []engine.Event, f ReportFilter) []string {
	type agg struct {
		sums                   ledgerSums
		balance, before, after int64
		in                     bool
	}
	members := map[string]*agg{}
	get := func(m string) *agg {
		if members[m] == nil {
			members[m] = &agg{}
		}
		return members[m]
	}
	for _, ev := range all {
		for _, e := range engine.EventEntries(ev) {
			g := get(ev.Member)
			g.balance += int64(e.Points)
			if !f.From.IsZero() && e.At.Before(f.From) {
				g.before += int64(e.Points)
			}
			if !f.To.IsZero() && !e.At.Before(f.To) {
				g.after += int64(e.Points)
			}
			if inFilter(f, e.Store, e.At) {
				g.in = true
				g.sums.add(string(e.Kind), int64(e.Points))
			}
		}
	}
	var out []string
	for _, m := range sortedKeys(members) {
		g := members[m]
		if !g.in {
			continue
		}
		row := append([]string{m, itoa(g.sums.entries), itoa(g.before)}, sumsRow(nil, g.sums.kinds)...)
		out = append(out, strings.Join(append(row, itoa(g.sums.net), itoa(g.balance-g.after)), ","))
	}
	return out
}

// bruteCards is the card-types summary from the engine's fold of every
// member's events; the issuing store is the store of the event whose
// stamp won the issue register.
func bruteCards(all []engine.Event, f ReportFilter) []string {
	states := map[string]*engine.MemberState{}
	for _, ev := range all {
		if ev.Member == "" || ev.Sale != nil || ev.Return != nil {
			continue
		}
		if states[ev.Member] == nil {
			states[ev.Member] = engine.NewMemberState(ev.Member)
		}
		states[ev.Member].Apply(ev)
	}
	stores := map[engine.Stamp]string{}
	for _, ev := range all {
		stores[ev.Stamp()] = ev.Store
	}
	types := map[string][]int64{}
	for _, st := range states {
		for _, c := range st.HeldCards() {
			if !inFilter(f, stores[c.Issued], c.IssuedAt) {
				continue
			}
			if types[c.Type] == nil {
				types[c.Type] = make([]int64, 3)
			}
			types[c.Type][0]++
			if c.Status == engine.CardBlocked {
				types[c.Type][2]++
			} else {
				types[c.Type][1]++
			}
		}
	}
	var out []string
	for _, k := range sortedKeys(types) {
		out = append(out, strings.Join(sumsRow([]string{k}, types[k]), ","))
	}
	return out
}
