package content_test

import (
	"fmt"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
)

func Example() {
	quoted := make([]byte, content.MessageIDSize) // the id of the message replied to
	b, err := content.Marshal(&content.Content{Content: &contentpb.Content{
		Kind:    &contentpb.Content_Text{Text: &contentpb.Text{Body: "see you at 8"}},
		ReplyTo: &contentpb.ReplyTo{MessageId: quoted, Sender: "alice"},
	}})
	if err != nil {
		panic(err)
	}
	c, err := content.Parse(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Kind(), c.GetText().GetBody(), c.GetReplyTo().GetSender())
	// Output: text see you at 8 alice
}
