package s3

// MultipartETag exports multipartETag to the tests.
var MultipartETag = multipartETag
