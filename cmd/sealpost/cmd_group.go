package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/sealpost/sealpost/client"
)

// sealpost group: membership of groups (spec/client.md §14).

var groupCommand = &command{
	name:    "group",
	usage:   "group create NAME [HANDLE...] | add|remove|promote|demote GROUP HANDLE... | rename GROUP NAME | leave GROUP | list | members GROUP | send GROUP TEXT",
	summary: "create groups and change who is in them",
	help: `
Groups are known only to their members: every change is signed by its
author's account key and checked by every member against the key
directory; the relay and the key server never see a group's id, name or
members. GROUP is a group's id (64 hex digits, as create and list print
it), a unique prefix of at least 4 of them, or, if no id begins with it,
the group's name (when no other group of yours has it).

  group create NAME [HANDLE...]   a new group with you as its admin
  group add GROUP HANDLE...       add accounts (admins only)
  group remove GROUP HANDLE...    remove accounts (admins only)
  group promote GROUP HANDLE...   make members admins (admins only)
  group demote GROUP HANDLE...    make admins members (admins only)
  group rename GROUP NAME         (admins only)
  group leave GROUP
  group list                      the groups you are in
  group members GROUP             a group's name, epoch, members, admins
  group send GROUP TEXT           a message to every member
  chat --group GROUP              an interactive chat in the group

Changes need the account key (the first device, or one restored from a
backup). A change the group's rules refuse (not an admin, the last admin,
already a member, ...) exits 1 (group_refused) and sends nothing.
A group message is encrypted once and uploaded once for every device of
every member; listen shows it with "[group ID]" (its first 8 digits).`,
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) == 0 {
				return usagef("missing group subcommand (create, add, remove, promote, demote, rename, leave, list, members, send)")
			}
			sub, rest := args[0], args[1:]
			switch sub {
			case "create":
				if len(rest) < 1 {
					return usagef("group create: missing NAME")
				}
				return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
					gid, err := c.CreateGroup(ctx, rest[0], rest[1:]...)
					if err != nil {
						return err
					}
					return a.printGroup(ctx, c, gid)
				})
			case "add", "remove", "promote", "demote":
				if len(rest) < 2 {
					return usagef("group %s: want GROUP and at least one HANDLE", sub)
				}
				do := map[string]func(*client.Client, context.Context, client.GroupID, ...string) error{
					"add": (*client.Client).AddMembers, "remove": (*client.Client).RemoveMembers,
					"promote": (*client.Client).Promote, "demote": (*client.Client).Demote,
				}[sub]
				return a.groupAction(ctx, rest[0], func(ctx context.Context, c *client.Client, gid client.GroupID) error {
					return do(c, ctx, gid, rest[1:]...)
				})
			case "rename":
				if len(rest) != 2 {
					return usagef("group rename: want GROUP and NAME")
				}
				return a.groupAction(ctx, rest[0], func(ctx context.Context, c *client.Client, gid client.GroupID) error {
					return c.SetGroupName(ctx, gid, rest[1])
				})
			case "leave":
				if len(rest) != 1 {
					return usagef("group leave: want GROUP")
				}
				return a.groupAction(ctx, rest[0], func(ctx context.Context, c *client.Client, gid client.GroupID) error {
					return c.LeaveGroup(ctx, gid)
				})
			case "send":
				if len(rest) != 2 {
					return usagef("group send: want GROUP and TEXT")
				}
				return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
					gid, err := resolveGroup(ctx, c, rest[0])
					if err != nil {
						return err
					}
					id, err := c.SendGroupText(ctx, gid, rest[1])
					if err != nil {
						return err
					}
					if a.json {
						a.emit(struct {
							ID    string `json:"id"`
							Group string `json:"group"`
						}{id.String(), gid.String()})
					} else {
						a.printf("%s\n", id)
					}
					return nil
				})
			case "list":
				if len(rest) != 0 {
					return usagef("group list: unexpected %q", rest[0])
				}
				return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
					gs, err := c.Groups(ctx)
					if err != nil {
						return err
					}
					for i := range gs {
						a.showGroup(&gs[i])
					}
					return nil
				})
			case "members":
				if len(rest) != 1 {
					return usagef("group members: want GROUP")
				}
				return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
					gid, err := resolveGroup(ctx, c, rest[0])
					if err != nil {
						return err
					}
					return a.printGroup(ctx, c, gid)
				})
			}
			return usagef("unknown group subcommand %q", sub)
		}
	},
}

// groupAction resolves GROUP and runs fn, then prints the group.
func (a *app) groupAction(ctx context.Context, arg string, fn func(context.Context, *client.Client, client.GroupID) error) error {
	return a.withClient(ctx, opTimeout, func(ctx context.Context, c *client.Client) error {
		gid, err := resolveGroup(ctx, c, arg)
		if err != nil {
			return err
		}
		if err := fn(ctx, c, gid); err != nil {
			return err
		}
		return a.printGroup(ctx, c, gid)
	})
}

// resolveGroup takes a group id, a unique prefix of at least 4 hex
// digits of one of this device's groups, or, when no id begins with it,
// the name of exactly one of them. A group's name is chosen by its admins,
// so a name two groups share is refused rather than guessed.
func resolveGroup(ctx context.Context, c *client.Client, arg string) (client.GroupID, error) {
	if gid, err := client.ParseGroupID(arg); err == nil {
		return gid, nil
	}
	gs, err := c.Groups(ctx)
	if err != nil {
		return client.GroupID{}, err
	}
	var byID, byName []client.GroupID
	for _, g := range gs {
		if len(arg) >= 4 && strings.HasPrefix(g.ID.String(), strings.ToLower(arg)) {
			byID = append(byID, g.ID)
		}
		if g.Name == arg {
			byName = append(byName, g.ID)
		}
	}
	found, how := byID, "begin with it"
	if len(found) == 0 {
		found, how = byName, "have this name (give the id)"
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return client.GroupID{}, fmt.Errorf("%w: no group of yours has an id that begins with %q or this name", client.ErrUnknownGroup, arg)
	}
	return client.GroupID{}, usagef("GROUP %q: %d groups %s", arg, len(found), how)
}

// printGroup prints group gid as this device holds it.
func (a *app) printGroup(ctx context.Context, c *client.Client, gid client.GroupID) error {
	g, err := c.GroupMembers(ctx, gid)
	if err != nil {
		return err
	}
	a.showGroup(g)
	return nil
}

type jsonGroup struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Epoch   uint64   `json:"epoch"`
	Members []string `json:"members"`
	Admins  []string `json:"admins"`
}

func (a *app) showGroup(g *client.Group) {
	if a.json {
		a.emit(jsonGroup{g.ID.String(), g.Name, g.Epoch, g.Members, g.Admins})
		return
	}
	a.printf("%s  %s  (epoch %d)\n  members: %s\n  admins:  %s\n", g.ID, escapeText([]byte(g.Name), false), g.Epoch, strings.Join(g.Members, ", "), strings.Join(g.Admins, ", "))
}

// groupChat is what chat --group adds to a chat session: the group, and
// its state as last shown, to tell what each change did.
type groupChat struct {
	id    client.GroupID
	shown *client.Group
}

// openGroupChat resolves GROUP for chat --group: a group this account is
// a member of, or ErrUnknownGroup.
func openGroupChat(ctx context.Context, c *client.Client, arg string) (*groupChat, error) {
	gid, err := resolveGroup(ctx, c, arg)
	if err != nil {
		return nil, err
	}
	g, err := c.GroupMembers(ctx, gid)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(g.Members, c.Handle()) {
		return nil, fmt.Errorf("%w: this account is no longer a member of group %s", client.ErrUnknownGroup, gid.String()[:8])
	}
	return &groupChat{id: gid, shown: g}, nil
}

// banner shows the group as the chat begins.
func (g *groupChat) banner(a *app) {
	if a.json {
		a.showGroup(g.shown)
		return
	}
	a.notef("sealpost: group \"%s\" (%s), epoch %d: %s\n", escapeText([]byte(g.shown.Name), false), shortGroup(g.id), g.shown.Epoch, memberList(g.shown))
}

// memberList is "alice (admin), bob, carol".
func memberList(gr *client.Group) string {
	names := make([]string, len(gr.Members))
	for i, h := range gr.Members {
		names[i] = escapeText([]byte(h), false)
		if slices.Contains(gr.Admins, h) {
			names[i] += " (admin)"
		}
	}
	return strings.Join(names, ", ")
}

// jsonGroupEvent is a group event with --json: the event, its group, and
// for a change of the chat's group the state it left.
type jsonGroupEvent struct {
	jsonEvent
	Group  string     `json:"group"`
	Change string     `json:"change,omitempty"`
	State  *jsonGroup `json:"state,omitempty"`
}

// event shows an EventGroupChanged or EventGroupRefused (spec/client.md
// §14.2). A change of this chat's group is told by what it did, from the
// state before and after; another group's as "*" lines.
func (g *groupChat) event(ctx context.Context, a *app, c *client.Client, e client.Event) {
	if e.Group != g.id {
		if a.json {
			a.emit(jsonGroupEvent{jsonEvent: newJSONEvent(e), Group: groupIDText(e.Group), Change: e.GroupChange})
			return
		}
		what := "changed (" + e.GroupChange + ")"
		if e.Kind == client.EventGroupRefused {
			what = "refused a change: " + describe(e.Err)
		}
		a.notef("sealpost: * group %s: %s %s\n", shortGroup(e.Group), escapeText([]byte(e.Handle), false), what)
		return
	}
	if e.Kind == client.EventGroupRefused {
		if a.json {
			a.emit(jsonGroupEvent{jsonEvent: newJSONEvent(e), Group: g.id.String()})
			return
		}
		a.notef("sealpost: a change of this group by %s was refused, the group is unchanged: %s\n", escapeText([]byte(e.Handle), false), describe(e.Err))
		return
	}
	now, err := c.GroupMembers(ctx, g.id)
	if err != nil {
		a.notef("sealpost: chat: reading the group: %s\n", describe(err))
		return
	}
	before := g.shown
	g.shown = now
	if a.json {
		a.emit(jsonGroupEvent{jsonEvent: newJSONEvent(e), Group: g.id.String(), Change: e.GroupChange,
			State: &jsonGroup{now.ID.String(), now.Name, now.Epoch, now.Members, now.Admins}})
		return
	}
	lines := changeLines(before, now, e.Handle, c.Handle())
	if len(lines) == 0 {
		// Shown with an earlier change applied at the same time.
		lines = []string{fmt.Sprintf("%s changed the group (%s)", escapeText([]byte(e.Handle), false), e.GroupChange)}
	}
	for _, l := range lines {
		a.notef("sealpost: %s\n", l)
	}
	wasIn, isIn := slices.Contains(before.Members, c.Handle()), slices.Contains(now.Members, c.Handle())
	switch {
	case wasIn && !isIn:
		a.notef("sealpost: you are no longer a member of this group: nothing typed here is sent (Ctrl-D ends the chat)\n")
	case !wasIn && isIn:
		a.notef("sealpost: you are a member of this group again\n")
	}
}

// changeLines says what a change by author did to a group, from the
// states before and after it: "alice added carol", "bob left the group",
// "alice renamed the group "club"". self is this account, named "you".
func changeLines(before, after *client.Group, author, self string) []string {
	name := func(h string) string {
		if h == self {
			return "you"
		}
		return escapeText([]byte(h), false)
	}
	list := func(hs []string) string {
		out := make([]string, len(hs))
		for i, h := range hs {
			out[i] = name(h)
		}
		return strings.Join(out, ", ")
	}
	who := name(author)
	var lines []string
	if added := minus(after.Members, before.Members); len(added) > 0 {
		lines = append(lines, fmt.Sprintf("%s added %s", who, list(added)))
	}
	if removed := minus(before.Members, after.Members); len(removed) > 0 {
		if len(removed) == 1 && removed[0] == author {
			lines = append(lines, who+" left the group")
		} else {
			lines = append(lines, fmt.Sprintf("%s removed %s", who, list(removed)))
		}
	}
	if promoted := minus(after.Admins, before.Admins); len(promoted) > 0 {
		lines = append(lines, fmt.Sprintf("%s made %s admin", who, list(promoted)))
	}
	// An admin who left or was removed is no longer one: said above.
	if demoted := minus(minus(before.Admins, after.Admins), minus(before.Members, after.Members)); len(demoted) > 0 {
		lines = append(lines, fmt.Sprintf("%s made %s no longer admin", who, list(demoted)))
	}
	if after.Name != before.Name {
		lines = append(lines, fmt.Sprintf("%s renamed the group \"%s\"", who, escapeText([]byte(after.Name), false)))
	}
	return lines
}

// minus is the handles of a not in b.
func minus(a, b []string) []string {
	var out []string
	for _, h := range a {
		if !slices.Contains(b, h) {
			out = append(out, h)
		}
	}
	return out
}

// shortGroup is a group id's first 8 digits, as messages show it.
func shortGroup(g client.GroupID) string { return g.String()[:8] }
