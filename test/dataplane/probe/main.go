// Command probe is the dataplane test bed's traffic endpoint. It runs inside
// a pod's network namespace (ip netns exec) and is deliberately small, so a
// measured cell depends on the network and not on the tool:
//
//	probe serve --name NAME --tcp 443,8080 --udp 53
//	    listens on every address; a TCP connection receives "NAME\n", a UDP
//	    datagram is answered with "NAME\n". Prints "ready" once bound.
//	probe dial [--timeout 1s] tcp:IP:PORT udp:IP:PORT ...
//	    tries every target at once and prints one JSON Result per target.
//	probe watch [--interval 10ms] [--timeout 250ms] tcp:IP:PORT
//	    tries the target again and again and prints one JSON Result per
//	    attempt until it is signalled.
//	probe fetch [--token-file F] https://HOST:PORT/PATH
//	    one HTTPS GET (certificate not verified) with the bearer token in F;
//	    prints the status code and the body's first line.
//
// A target is open only when the server's name comes back: a handshake that a
// policy engine let through but whose data it dropped does not count.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "dial":
		err = dial(os.Args[2:])
	case "watch":
		err = watch(os.Args[2:])
	case "fetch":
		err = fetch(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe serve|dial|watch|fetch [flags] [targets]")
	os.Exit(2)
}

// newFlags returns a flag set for a subcommand that exits on bad flags.
func newFlags(name string) *flag.FlagSet {
	return flag.NewFlagSet("probe "+name, flag.ExitOnError)
}
