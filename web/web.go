// Package web holds the web client's page: index.html (a template that
// sealpost-webbuild fills with the hashed names and Subresource Integrity
// hashes of the files it builds), app.js and style.css. The page drives
// the client package compiled to WebAssembly (cmd/sealpost-web) through
// the JavaScript API that README.md describes.
package web

import "embed"

// Files are the page's sources: index.html, app.js and style.css.
//
//go:embed index.html app.js style.css
var Files embed.FS
