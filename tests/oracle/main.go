// Command oracle prints Kubernetes' own answers, from k8s.io/apimachinery at the version the
// local control plane is built from, for generated quantities, names, label keys and values and
// annotation keys: the expected side of jobsync's differential test (tests/oracle/README.md).
//
// The cases are generated deterministically (a fixed seed): boundaries, odd characters, long and
// tiny values, and pairs of quantities that are equal or nearly so. Output, one case a line,
// fields separated by tabs, texts as JSON strings:
//
//	Q <text> <verdict> <value>   verdict: ok | refused | mistake; value "<digits>e<exp>" or "0" for ok
//	P <a> <b> <cmp>              Kubernetes' Cmp of two accepted quantities: -1, 0 or 1
//	N <rule> <text> <1|0>        whether <text> passes <rule>
//
// A quantity's verdict is the apiserver's: "refused" when ParseQuantity (after the whitespace
// trim of Quantity.UnmarshalJSON) fails or the value is negative (resources must be >= 0);
// "mistake" when Kubernetes accepts it but it has no digit before its suffix or is a negative
// zero, which jobsync refuses on purpose; "ok" otherwise.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand"
	"os"
	"regexp"
	"strings"

	inf "gopkg.in/inf.v0"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var out = bufio.NewWriter(os.Stdout)

func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var mantissaDigits = regexp.MustCompile(`^[+-]?[0-9]*(\.[0-9]*)?`)

// parse returns what the apiserver makes of text as a resource quantity.
func parse(text string) (resource.Quantity, string) {
	trimmed := strings.TrimSpace(text)
	q, err := resource.ParseQuantity(trimmed)
	if err != nil || q.Sign() < 0 {
		return q, "refused"
	}
	if !strings.ContainsAny(mantissaDigits.FindString(trimmed), "0123456789") {
		return q, "mistake"
	}
	if q.Sign() == 0 && strings.HasPrefix(trimmed, "-") {
		return q, "mistake"
	}
	return q, "ok"
}

// exact spells q's value as "<digits>e<exponent>" without trailing zeros, or "0".
func exact(q resource.Quantity) string {
	d := q.AsDec()
	unscaled := new(big.Int).Set(d.UnscaledBig())
	exponent := -int64(d.Scale())
	if unscaled.Sign() == 0 {
		return "0"
	}
	ten := big.NewInt(10)
	for {
		quotient, remainder := new(big.Int).QuoRem(unscaled, ten, new(big.Int))
		if remainder.Sign() != 0 {
			break
		}
		unscaled = quotient
		exponent++
	}
	return fmt.Sprintf("%se%d", unscaled.String(), exponent)
}

func emitQuantity(text string) (resource.Quantity, bool) {
	q, verdict := parse(text)
	value := "-"
	if verdict == "ok" {
		value = exact(q)
	}
	fmt.Fprintf(out, "Q\t%s\t%s\t%s\n", quote(text), verdict, value)
	return q, verdict == "ok"
}

func digits(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(byte('0' + r.Intn(10)))
	}
	return b.String()
}

var suffixes = []string{"", "", "", "n", "u", "m", "k", "M", "G", "T", "P", "E",
	"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}

// randomQuantity makes a quantity text whose exponent stays small enough for Cmp to be cheap.
func randomQuantity(r *rand.Rand) string {
	var b strings.Builder
	switch r.Intn(20) {
	case 0:
		b.WriteString("+")
	case 1:
		b.WriteString("-")
	}
	lengths := []int{0, 1, 1, 2, 3, 5, 9, 15, 18, 19, 20, 25, 40}
	integer := lengths[r.Intn(len(lengths))]
	if r.Intn(6) == 0 {
		b.WriteString(strings.Repeat("0", 1+r.Intn(3)))
	}
	b.WriteString(digits(r, integer))
	if r.Intn(2) == 0 {
		b.WriteString(".")
		b.WriteString(digits(r, []int{0, 1, 3, 6, 9, 10, 12, 20}[r.Intn(8)]))
	}
	if r.Intn(4) == 0 {
		e := []string{"e", "E"}[r.Intn(2)]
		sign := []string{"", "+", "-"}[r.Intn(3)]
		zeros := strings.Repeat("0", r.Intn(3))
		b.WriteString(fmt.Sprintf("%s%s%s%d", e, sign, zeros, r.Intn(25)))
	} else {
		b.WriteString(suffixes[r.Intn(len(suffixes))])
	}
	return b.String()
}

// respell writes q's value with another decimal suffix or exponent: an equal spelling.
func respell(r *rand.Rand, q resource.Quantity) string {
	d := q.AsDec()
	unscaled := d.UnscaledBig().String()
	scale := int(d.Scale()) // value = unscaled * 10^-scale
	shifts := map[string]int{"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9}
	names := []string{"n", "u", "m", "", "k", "M", "G", "e"}
	name := names[r.Intn(len(names))]
	shift, suffix := shifts[name], name
	if name == "e" {
		shift = r.Intn(21) - 10
		suffix = fmt.Sprintf("e%d", shift)
	}
	// mantissa = unscaled * 10^-(scale+shift): place the decimal point.
	point := scale + shift // digits after the point
	if point <= 0 {
		return unscaled + strings.Repeat("0", -point) + suffix
	}
	if len(unscaled) <= point {
		unscaled = strings.Repeat("0", point-len(unscaled)+1) + unscaled
	}
	return unscaled[:len(unscaled)-point] + "." + unscaled[len(unscaled)-point:] + suffix
}

func emitPair(a, b string) {
	qa, oka := parse(a)
	qb, okb := parse(b)
	if oka != "ok" || okb != "ok" {
		return
	}
	fmt.Fprintf(out, "P\t%s\t%s\t%d\n", quote(a), quote(b), qa.Cmp(qb))
}

func quantities(r *rand.Rand) {
	fixed := []string{
		"0", "1", "+1", "-1", "1n", "1500u", "2m", "0.1", "0.1000000001", "0.100000001",
		"1e0000", "1E3", "1e-3", "1e+3", "1.", ".5", "+.5Gi", "5.Gi", ".", "+", "-", "Gi", "e3",
		"-0", "-0.0", "-0Gi", "+0", "000", " 4", "4 ", "\t4\n", "1e4294967296", "1e-4294967296",
		"10Ei", "9Ei", "8Ei", "7.99999Ei", "9223372036854775807", "9223372036854775808",
		"99999999999999999999", "1e18", "1e19", "123456789012345678", "1234567890123456789",
		"0.000000001", "0.0000000001", "0.0000000009", "1Ki", "1024", "1.5Gi", "1536Mi", "0.1Ki",
		"1ki", "1K", "1e", "1x", "1Ei0", "1e+-3", "1.2.3", "00012", "0x10", "1_000", "1,5",
		"١", "４", "1e99999999999999999999", "1e9223372036854775807", "1mi", "1 Gi", "1G i",
		"1e1.5", "e", "E", "1EE", "1Mi1", "1m3", "1.5e", "9007199254740993", "9007199254740992",
		strings.Repeat("9", 100), "0." + strings.Repeat("0", 30) + "1",
		strings.Repeat("1", 60) + "Ei", strings.Repeat("1", 30) + "." + strings.Repeat("1", 30),
	}
	var accepted []string
	for _, text := range fixed {
		if _, ok := emitQuantity(text); ok {
			accepted = append(accepted, text)
		}
	}
	for i := 0; i < 1500; i++ {
		text := randomQuantity(r)
		q, ok := emitQuantity(text)
		if !ok {
			continue
		}
		accepted = append(accepted, text)
		if strings.ContainsAny(text, "e") && len(text) > 60 {
			continue
		}
		again := respell(r, q)
		emitQuantity(again)
		emitPair(text, again)
		// Near misses: one nano-unit more, and a tenth of one, which Kubernetes rounds up to a
		// whole one.
		plusNano := new(inf.Dec).Add(q.AsDec(), inf.NewDec(1, 9)).String()
		plusTenth := new(inf.Dec).Add(q.AsDec(), inf.NewDec(1, 10)).String()
		emitQuantity(plusTenth)
		emitPair(text, plusNano)
		emitPair(text, plusTenth)
		emitPair(plusNano, plusTenth)
	}
	for i := 0; i < 1500; i++ {
		emitPair(accepted[r.Intn(len(accepted))], accepted[r.Intn(len(accepted))])
	}
	for _, pair := range [][2]string{{"1500u", "2m"}, {"0", "1n"}, {"0.1", "0.1000000001"},
		{"0.100000001", "0.1000000001"}, {"10Ei", "9223372036854775807"}, {"11Ei", "10Ei"},
		{"1e0000", "1"}, {"1e4294967296", "1"}, {"1G", "1Gi"}, {"100n", "1m"},
		{"9007199254740993", "9007199254740992"}, {"0.0000000001", "1n"}} {
		emitPair(pair[0], pair[1])
	}
}

// The characters names are made of: the allowed ones, and odd ones at every position.
var alphabet = []string{"a", "b", "z", "a", "m", "0", "9", "-", "-", ".", "_", "A", "Z",
	"/", " ", "é", "\t", ":", "@", "*", "~"}

func randomName(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(alphabet[r.Intn(len(alphabet))])
	}
	return b.String()
}

func lowerDNS(r *rand.Rand, n int) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789-"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.Intn(len(chars))]
	}
	if n > 0 {
		b[0] = 'a' + byte(r.Intn(26))
		b[n-1] = '0' + byte(r.Intn(10))
	}
	return string(b)
}

func emitName(text string) {
	rules := []struct {
		name string
		ok   bool
	}{
		{"label-value", len(validation.IsValidLabelValue(text)) == 0},
		{"label-key", len(metavalidation.ValidateLabels(map[string]string{text: "v"}, field.NewPath("l"))) == 0},
		{"annotation-key", len(apivalidation.ValidateAnnotations(map[string]string{text: "v"}, field.NewPath("a"))) == 0},
		{"dns1123-label", len(validation.IsDNS1123Label(text)) == 0},
		{"dns1123-subdomain", len(validation.IsDNS1123Subdomain(text)) == 0},
		{"dns1035-label", len(validation.IsDNS1035Label(text)) == 0},
	}
	for _, rule := range rules {
		ok := 0
		if rule.ok {
			ok = 1
		}
		fmt.Fprintf(out, "N\t%s\t%s\t%d\n", rule.name, quote(text), ok)
	}
}

func names(r *rand.Rand) {
	fixed := []string{"", "a", "A", "-", "a-", "-a", "a.b", "a..b", "a_b", "_a", "a_", "1",
		"example.com/a", "example.com/", "/a", "a/b/c", "Example.com/a", "EXAMPLE.COM/A",
		"a b", "é", "a\tb", "jobsync", "kubernetes.io/hostname", "x/" + strings.Repeat("a", 63),
		"x/" + strings.Repeat("a", 64)}
	for _, n := range []int{62, 63, 64, 252, 253, 254} {
		fixed = append(fixed, strings.Repeat("a", n), lowerDNS(r, n))
	}
	for _, prefix := range []int{1, 62, 63, 64, 240, 253, 254} {
		for _, name := range []int{1, 63, 64} {
			p := lowerDNS(r, prefix)
			if prefix > 63 {
				p = lowerDNS(r, 60) + "." + lowerDNS(r, prefix-61)
			}
			fixed = append(fixed, p+"/"+strings.Repeat("N", name))
		}
	}
	for _, text := range fixed {
		emitName(text)
	}
	lengths := []int{0, 1, 2, 3, 5, 10, 30, 62, 63, 64, 65, 100}
	for i := 0; i < 1200; i++ {
		n := lengths[r.Intn(len(lengths))]
		switch r.Intn(3) {
		case 0:
			emitName(randomName(r, n))
		case 1:
			emitName(lowerDNS(r, n))
		default:
			emitName(lowerDNS(r, 1+r.Intn(20)) + "." + lowerDNS(r, 1+r.Intn(10)) + "/" + randomName(r, n))
		}
	}
}

func main() {
	r := rand.New(rand.NewSource(16))
	quantities(r)
	names(r)
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
