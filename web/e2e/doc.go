// Package e2e holds the web client's end-to-end tests: a real sealpostd
// serving the built web client (sealpost-webbuild, sealpostd --web), the
// page in a real headless Chromium driven through the Chrome DevTools
// protocol (chromedp), and the sealpost command as another party.
//
// The tests are in package e2e_test; this file only names the package.
package e2e
