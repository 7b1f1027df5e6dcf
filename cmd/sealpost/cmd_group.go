package main

import (
	"context"
	"flag"
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
it) or a unique prefix of at least 4 of them.

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

// resolveGroup takes a group id or a unique prefix of at least 4 hex
// digits of one of this device's groups.
func resolveGroup(ctx context.Context, c *client.Client, arg string) (client.GroupID, error) {
	if gid, err := client.ParseGroupID(arg); err == nil {
		return gid, nil
	}
	if len(arg) < 4 {
		return client.GroupID{}, usagef("GROUP %q: want a group id or a prefix of at least 4 hex digits", arg)
	}
	gs, err := c.Groups(ctx)
	if err != nil {
		return client.GroupID{}, err
	}
	var found []client.GroupID
	for _, g := range gs {
		if strings.HasPrefix(g.ID.String(), strings.ToLower(arg)) {
			found = append(found, g.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		_, err := client.ParseGroupID(arg) // ErrUnknownGroup
		return client.GroupID{}, err
	}
	return client.GroupID{}, usagef("GROUP %q: %d groups begin with it", arg, len(found))
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
