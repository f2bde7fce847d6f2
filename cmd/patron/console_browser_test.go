package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/patron/patron/posbridge"
)

// The web console in a real browser: Debian's chromium, headless, driven
// through the DevTools protocol (chromedp, no chromedriver). CI installs
// chromium (.ci/run) and sets CI=true, so a missing browser fails there;
// on a developer's machine without one the test skips.

// browserTimeout bounds the whole browser test, stepTimeout each named
// part of it (so a failure names its step before the whole runs out).
const (
	browserTimeout = 90 * time.Second
	stepTimeout    = 20 * time.Second
)

// findChromium returns the browser to drive, failing in CI without one.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: .ci/run installs it (apt-get install chromium); the console's browser test needs it")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	return ""
}

// browser is a headless chromium tab with the page's uncaught script
// errors collected.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex // guards following
	exceptions []string
}

func newBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findChromium(t)),
		chromedp.NoSandbox, // root in containers and CI
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &browser{t: t, ctx: tabCtx}
	err := chromedp.Listen(tabCtx, func(ev any) {
		if ex, ok := ev.(*runtime.EventExceptionThrown); ok {
			b.mu.Lock()
			b.exceptions = append(b.exceptions, exceptionText(ex))
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func exceptionText(ev *runtime.EventExceptionThrown) string {
	d := ev.ExceptionDetails
	if d == nil {
		return "exception"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d)", s, d.URL, d.LineNumber)
}

// do runs the steps of one named part of the flow; on failure it reports
// the page's flash message and saves a screenshot beside the test log.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
	b.noExceptions(what)
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	detail := ""
	// A fresh, short context: the test's may be the one that expired.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 5*time.Second)
	defer cancel()
	if flash, ferr := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById('flash')||{}).textContent||''`)); ferr == nil && flash != "" {
		detail += "; the page says: " + flash
	}
	if png, serr := chromedp.Run(ctx, chromedp.CaptureScreenshot()); serr == nil {
		path := filepath.Join(os.TempDir(), "patron-console-"+strings.ReplaceAll(what, " ", "-")+".png")
		if os.WriteFile(path, png, 0o644) == nil {
			detail += "; screenshot " + path
		}
	}
	b.t.Fatalf("%s: %v%s", what, err, detail)
}

func (b *browser) noExceptions(what string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		b.t.Fatalf("%s: the page threw: %s", what, strings.Join(b.exceptions, "; "))
	}
}

// text is an element's text content.
func (b *browser) text(what, id string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.ID(id)))
	if err != nil {
		b.fail(what, err)
	}
	return strings.TrimSpace(s)
}

// until polls a JavaScript predicate (no sleeps), up to the test's deadline.
func until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(0), chromedp.WithPollingInterval(50*time.Millisecond))
}

// textIs is a predicate: the element's trimmed text equals want.
func textIs(id, want string) string {
	return fmt.Sprintf(`(function(){var e=document.getElementById(%q);return !!e&&e.textContent.trim()===%q})()`, id, want)
}

// numberIs is a predicate: the element shows the number want (in any
// grouping the browser's locale uses).
func numberIs(id string, want int64) string {
	return fmt.Sprintf(`(function(){var e=document.getElementById(%q);var t=e?e.textContent.replace(/[^0-9-]/g,''):'';return t!==''&&Number(t)===%d})()`, id, want)
}

// setValue sets an input's value (as typing would, without waiting for
// key events).
func setValue(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.ID(id), value)
}

// badPointValue is the demo programme with one error: a zero point value.
func badPointValue(t *testing.T) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(demoProgramme, &doc); err != nil {
		t.Fatal(err)
	}
	doc["version"] = "demo-broken"
	doc["redeem"].(map[string]any)["point_value"] = 0
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// memberView is what the test reads of a member through the till
// protocol, to check the console against.
type memberView struct {
	MemberID string `json:"member_id"`
	Points   struct {
		Balance int64 `json:"balance"`
	} `json:"points"`
}

// TestConsoleInBrowser runs patron dev as main would and drives its
// console: log in, look a member up, open a report and export it, upload
// a programme with an error, enrol, sell and return on the demo till, see
// the member's balance move by what the sale earned, and redeem above the
// OTP threshold with a free item chosen.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and a browser")
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	b := newBrowser(t, ctx)
	// Info logs carry the log SMS sender's messages: the OTP.
	d := startDev(t, t.TempDir(), "--admin-token", consoleAdminToken, "--log-level", "info")
	consoleFlow(ctx, t, b, d.admin, d.url, d.token, d.stderr.String)
}

// consoleFlow is the browser flow against a node whose admin listener is
// admin (with consoleAdminToken an hq-admin token) and whose tills dial
// tillURL with tillToken; the demo till page must have them filled in.
// smsLog returns what the node's log SMS sender has logged.
func consoleFlow(ctx context.Context, t *testing.T, b *browser, admin, tillURL, tillToken string, smsLog func() string) {
	const (
		mobile    = "+919800000001"
		newMobile = "+919800000002"
		bigMobile = "+919800000003"
	)

	// A member with one sale, through the till protocol, so the member
	// view, the ledger and the sales report have something to show.
	till, err := posbridge.Dial(ctx, tillURL, tillToken)
	if err != nil {
		t.Fatal(err)
	}
	defer till.Close()
	var m memberView
	if err := till.Call(ctx, "member.enroll", map[string]any{"mobile": mobile, "first_name": "Asha", "last_name": "Rao",
		"consents": map[string]bool{"programme_terms": true}}, &m); err != nil {
		t.Fatal(err)
	}
	var first struct {
		Totals struct {
			Net int64 `json:"net"`
		} `json:"totals"`
		Points struct {
			Balance int64 `json:"balance"`
		} `json:"points"`
	}
	if err := till.Call(ctx, "sale.complete", map[string]any{"receipt_no": "SETUP1",
		"basket":  map[string]any{"lines": []map[string]any{{"line": 1, "sku": "A1", "qty": 3, "unit_price": 100000}}},
		"member":  map[string]string{"mobile": mobile},
		"tenders": []map[string]any{{"type": "cash", "amount": 300000}}}, &first); err != nil {
		t.Fatal(err)
	}
	before := first.Points.Balance
	const redeem = 100 // the demo programme's minimum, below its OTP threshold
	if before < redeem {
		t.Fatalf("setup sale left balance %d, want at least %d to redeem", before, redeem)
	}
	// What the browser's sale of one novel, redeeming points, must earn,
	// asked of the node the way a till asks.
	var eval struct {
		Points struct {
			Earn int64 `json:"earn"`
		} `json:"points"`
	}
	if err := till.Call(ctx, "basket.evaluate", map[string]any{
		"basket": map[string]any{"lines": []map[string]any{{"line": 1, "sku": "BK1", "qty": 1, "unit_price": 45000}}},
		"member": map[string]string{"mobile": mobile}, "redeem": map[string]any{"points": redeem}}, &eval); err != nil {
		t.Fatal(err)
	}
	earn := eval.Points.Earn
	if earn <= 0 {
		t.Fatalf("a novel earns %d points, want some", earn)
	}

	// Log in with the admin token.
	b.do("log in",
		chromedp.Navigate(admin+"/"),
		chromedp.WaitVisible(chromedp.ID("login-token")),
		chromedp.SendKeys(chromedp.ID("login-token"), consoleAdminToken),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("whoami")),
	)
	if who := b.text("log in", "whoami"); !strings.Contains(who, "hq-admin") {
		t.Fatalf("logged in as %q, want hq-admin", who)
	}

	// Look the member up by mobile: the balance is the till's.
	lookUp := func(what string, want int64) {
		b.do(what,
			chromedp.Navigate(admin+"/console/members"),
			chromedp.WaitVisible(chromedp.ID("lookup-value")),
			setValue("lookup-value", "98000 00001"),
			chromedp.Click(chromedp.ID("lookup-submit")),
			chromedp.WaitVisible(chromedp.ID("member")),
			until(fmt.Sprintf(`document.getElementById('member-balance').dataset.points === %q`, strconv.FormatInt(want, 10))),
			until(`document.querySelectorAll('#member-ledger tbody tr').length > 0`),
		)
	}
	lookUp("look up the member", before)
	if id := b.text("look up the member", "member-profile"); !strings.Contains(id, mobile) || !strings.Contains(id, "Asha Rao") {
		t.Errorf("profile %q lacks the member id and name", id)
	}

	// Open the sales-vs-redemption report: a row for today, a chart, and
	// a CSV export that completes.
	b.do("open a report",
		chromedp.Navigate(admin+"/console/reports"),
		chromedp.Click(chromedp.CSS(`#report-list button[data-report="sales-vs-redemption"]`)),
		until(`document.querySelectorAll('#report-table tbody tr td').length > 1`),
		chromedp.WaitVisible(chromedp.CSS(`#report-chart svg rect`)),
		chromedp.Click(chromedp.ID("report-export-button")),
		chromedp.WaitVisible(chromedp.ID("export-download")),
	)
	// Cells keep the API's value (minor units) beside the money shown.
	b.do("read the report's net",
		until(fmt.Sprintf(`!!document.querySelector('#report-table td[data-value="%d"]')`, first.Totals.Net)))

	// Campaigns: one without a validity window is live now; stores: the
	// dev node reports itself online.
	b.do("see campaigns and stores",
		chromedp.Navigate(admin+"/console/campaigns"),
		chromedp.WaitVisible(chromedp.CSS(`#campaigns-table tr.live[data-campaign="C3"] .tag.live`)),
		chromedp.Navigate(admin+"/console/stores"),
		chromedp.WaitVisible(chromedp.CSS(`#stores-table tr.online[data-store="S001"]`)),
	)

	// Upload a programme with an error: the problem shows by its path.
	b.do("upload a bad programme",
		chromedp.Navigate(admin+"/console/programme"),
		until(`document.getElementById('programme-version').textContent !== ''`),
		setValue("programme-text", badPointValue(t)),
		chromedp.Click(chromedp.ID("programme-upload")),
		chromedp.WaitVisible(chromedp.CSS(`#programme-errors li[data-path="redeem.point_value"]`)),
	)
	if v := b.text("upload a bad programme", "programme-version"); v != "demo-2026.1" {
		t.Errorf("programme version %q after a refused upload, want demo-2026.1 still", v)
	}

	// The demo till: enrol a new member, then identify the first one and
	// sell a novel with points earned; sell a pen and return it.
	b.do("enrol on the demo till",
		chromedp.Navigate(admin+"/console/till"),
		until(textIs("till-status", "connected")),
		chromedp.WaitVisible(chromedp.ID("till-hello")),
		setValue("till-enrol-mobile", newMobile),
		setValue("till-enrol-first", "Ravi"),
		until(`!!document.getElementById('till-consent-programme_terms')`),
		chromedp.Click(chromedp.ID("till-enrol-button")),
		until(textIs("till-member-id", newMobile)),
	)
	b.do("identify on the demo till",
		setValue("till-id-value", mobile),
		chromedp.Click(chromedp.ID("till-identify-button")),
		until(textIs("till-member-id", mobile)),
		until(numberIs("till-balance", before)),
	)
	after := before + earn - redeem
	t.Logf("balance %d, a novel earns %d redeeming %d: %d after", before, earn, redeem, after)
	b.do("sell a novel for cash and points on the demo till",
		setValue("till-sku", "BK1"),
		setValue("till-price", "45000"),
		chromedp.Click(chromedp.ID("till-add-button")),
		chromedp.Click(chromedp.ID("till-evaluate")),
		chromedp.WaitVisible(chromedp.ID("till-earn")),
		setValue("till-redeem", strconv.Itoa(redeem)),
		chromedp.Click(chromedp.ID("till-sale-button")),
		chromedp.WaitVisible(chromedp.ID("till-receipt")),
		until(numberIs("till-receipt-earned", earn)),
		until(numberIs("till-receipt-redeemed", redeem)),
		until(numberIs("till-receipt-balance", after)),
	)
	novel := b.text("sell a novel for cash and points on the demo till", "till-receipt-id")
	b.do("sell a pen and return it on the demo till",
		chromedp.Click(chromedp.ID("till-clear")),
		setValue("till-sku", "PEN1"),
		setValue("till-price", "12000"),
		chromedp.Click(chromedp.ID("till-add-button")),
		chromedp.Click(chromedp.ID("till-sale-button")),
		until(fmt.Sprintf(`(function(){var e=document.getElementById('till-receipt-id');return !!e&&e.textContent!==%q&&e.textContent!==''})()`, novel)),
		chromedp.WaitVisible(chromedp.ID("till-return-section")),
		chromedp.Click(chromedp.ID("till-return-button")),
		until(numberIs("till-return-balance", after)),
	)
	if log := b.text("the protocol log", "till-log"); !strings.Contains(log, "sale.complete") || !strings.Contains(log, "sale.return") {
		t.Errorf("the protocol log lacks the sale and the return")
	}

	// Back in the member view, the balance moved by what the novel earned
	// less what it redeemed.
	lookUp("look up the member after the sale", after)
	var now memberView
	if err := till.Call(ctx, "member.identify", map[string]any{"identifier": map[string]string{"mobile": mobile}}, &now); err != nil {
		t.Fatal(err)
	}
	if now.Points.Balance != after {
		t.Errorf("the node says balance %d, want %d", now.Points.Balance, after)
	}

	// A redemption above the programme's OTP threshold: the till asks
	// for the OTP, sends it, and completes the sale with the code; the
	// basket's free item of the customer's choice is chosen on the page.
	var big struct {
		Points struct {
			Balance int64 `json:"balance"`
		} `json:"points"`
	}
	if err := till.Call(ctx, "member.enroll", map[string]any{"mobile": bigMobile, "consents": map[string]bool{"programme_terms": true}}, &m); err != nil {
		t.Fatal(err)
	}
	if err := till.Call(ctx, "sale.complete", map[string]any{"receipt_no": "SETUP2",
		"basket":  map[string]any{"lines": []map[string]any{{"line": 1, "sku": "TV01", "qty": 3, "unit_price": 1100000}}},
		"member":  map[string]string{"mobile": bigMobile},
		"tenders": []map[string]any{{"type": "cash", "amount": 3300000}}}, &big); err != nil {
		t.Fatal(err)
	}
	const otpRedeem = 1200 // above the demo programme's "above:1000"
	if big.Points.Balance < otpRedeem {
		t.Fatalf("setup sale left balance %d, want at least %d", big.Points.Balance, otpRedeem)
	}
	b.do("choose a free item on the demo till",
		chromedp.Navigate(admin+"/console/till"),
		until(textIs("till-status", "connected")),
		setValue("till-id-value", bigMobile),
		chromedp.Click(chromedp.ID("till-identify-button")),
		until(textIs("till-member-id", bigMobile)),
		setValue("till-sku", "TV01"),
		setValue("till-price", "1100000"),
		chromedp.Click(chromedp.ID("till-add-button")),
		chromedp.Click(chromedp.ID("till-evaluate")),
		chromedp.WaitVisible(chromedp.ID("till-choice-C6")),
		chromedp.Evaluate[chromedp.Void](`(function(){var s=document.getElementById('till-choice-C6');s.value='IRON1';s.dispatchEvent(new Event('change'))})()`),
		until(`document.getElementById('till-totals').textContent.indexOf('IRON1 (C6)') >= 0`),
	)
	b.do("redeem above the OTP threshold on the demo till",
		setValue("till-redeem", strconv.Itoa(otpRedeem)),
		chromedp.Click(chromedp.ID("till-sale-button")),
		chromedp.WaitVisible(chromedp.ID("till-otp-send")),
		chromedp.Click(chromedp.ID("till-otp-send")),
		until(`document.getElementById('till-otp').placeholder.indexOf('sent to') === 0`),
	)
	// The SMS leaves through the node's outbox: poll its log for it.
	otpText := regexp.MustCompile(`(\d{6}) is your OTP to redeem ` + strconv.Itoa(otpRedeem) + ` points`)
	var codes [][]string
	pollFor(t, "the OTP in the log SMS sender's output", func() bool {
		codes = otpText.FindAllStringSubmatch(smsLog(), -1)
		return len(codes) > 0
	})
	b.do("complete the sale with the OTP on the demo till",
		setValue("till-otp", codes[len(codes)-1][1]),
		chromedp.Click(chromedp.ID("till-sale-button")),
		chromedp.WaitVisible(chromedp.ID("till-receipt")),
		until(numberIs("till-receipt-redeemed", otpRedeem)),
		until(`document.getElementById('till-log').textContent.indexOf('"sku": "IRON1"') >= 0`),
	)
	b.noExceptions("the whole flow")
}

// consoleAdminToken is the admin token the browser logs in with:
// patron dev's --admin-token is an hq-admin token of the admin API.
const consoleAdminToken = "console-test-admin-token-0123456789"
