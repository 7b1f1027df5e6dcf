package client

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestLinkQR: the PNG decodes to a square image; the text form is a square
// of half-block cells with a light quiet zone, the same for the same URI.
func TestLinkQR(t *testing.T) {
	const uri = "sealpost://link?v=1&r=wss%3A%2F%2Frelay.example.com%2Fv1%2Frelay&a=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&h=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB&x=1780000000"
	b, err := LinkQRPNG(uri)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() != r.Dy() || r.Dx() < 100 {
		t.Errorf("PNG of %v", r)
	}
	text, err := LinkQRText(uri)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text, "\n")
	width := utf8.RuneCountInString(lines[0])
	if width < 25 || (width+1)/2 > len(lines)+1 || len(lines) > (width+1)/2 {
		t.Errorf("text QR of %d lines, %d wide", len(lines), width)
	}
	for i, l := range lines {
		if utf8.RuneCountInString(l) != width || strings.Trim(l, "█▀▄ ") != "" {
			t.Fatalf("line %d: %q", i, l)
		}
	}
	if strings.Trim(lines[0], "█") != "" {
		t.Errorf("no quiet zone on top: %q", lines[0])
	}
	if again, _ := LinkQRText(uri); again != text {
		t.Error("the same URI drew another code")
	}
	if other, _ := LinkQRText(uri + "0"); other == text {
		t.Error("another URI drew the same code")
	}
}

// TestSameLinkCode: spaces and dashes are ignored, anything else is not.
func TestSameLinkCode(t *testing.T) {
	for _, c := range []struct {
		typed string
		want  bool
	}{
		{"123 456", true}, {"123456", true}, {"123-456", true}, {" 1 2 3 4 5 6 ", true},
		{"123 457", false}, {"12345", false}, {"1234567", false}, {"", false}, {"123 45x", false}, {"１２３４５６", false},
	} {
		if got := SameLinkCode(c.typed, "123 456"); got != c.want {
			t.Errorf("SameLinkCode(%q) = %v", c.typed, got)
		}
	}
}
