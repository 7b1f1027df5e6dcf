package client

import (
	"crypto/subtle"
	"strings"

	"rsc.io/qr"
)

// QR codes of link URIs (spec/linking.md §2): level M, which a phone
// camera reads from a screen at an angle.

// LinkQRPNG renders a link URI as a QR code in a PNG image, for an app
// to show.
func LinkQRPNG(uri string) ([]byte, error) {
	c, err := qr.Encode(uri, qr.M)
	if err != nil {
		return nil, err
	}
	return c.PNG(), nil
}

// LinkQRText renders a link URI as a QR code in text for a terminal: two
// modules per character cell with half blocks, light modules drawn (a
// terminal's background is usually dark), inside a two-module quiet zone.
func LinkQRText(uri string) (string, error) {
	c, err := qr.Encode(uri, qr.M)
	if err != nil {
		return "", err
	}
	const quiet = 2
	light := func(x, y int) bool {
		if x < 0 || y < 0 || x >= c.Size || y >= c.Size {
			return true
		}
		return !c.Black(x, y)
	}
	var b strings.Builder
	for y := -quiet; y < c.Size+quiet; y += 2 {
		for x := -quiet; x < c.Size+quiet; x++ {
			top, bottom := light(x, y), light(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// SameLinkCode reports whether typed, a verification code as the user
// typed it (spaces and dashes ignored), is shown, in constant time.
func SameLinkCode(typed, shown string) bool {
	digits := func(s string) []byte {
		var out []byte
		for _, r := range s {
			switch {
			case r >= '0' && r <= '9':
				out = append(out, byte(r))
			case r == ' ' || r == '-':
			default:
				return nil
			}
		}
		return out
	}
	a, b := digits(typed), digits(shown)
	return len(a) > 0 && subtle.ConstantTimeCompare(a, b) == 1
}
