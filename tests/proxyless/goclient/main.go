// Command goclient is grpc-go's own xDS client driven over stdin, for the proxyless tests.
//
// It speaks the protocol of breakwater.devtools.proxyless_client, so the tests drive
// grpc-go and grpcio alike: each stdin line is a JSON batch ({"calls", "metadata",
// "timeout"}), each stdout line answers it with the instances that answered OK ("by"),
// the status names of the calls that failed ("errors") and the first failure's text
// ("detail"). The bootstrap comes from GRPC_XDS_BOOTSTRAP_CONFIG or GRPC_XDS_BOOTSTRAP,
// as for any grpc-go program. One channel serves every batch, so the xDS client keeps
// its subscriptions and follows the control plane between batches.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver and its balancers
)

const method = "/breakwater.test.Echo/Call"

// rawCodec sends and receives bytes as they are: the test servers answer with their name.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

type batch struct {
	Calls    int               `json:"calls"`
	Metadata map[string]string `json:"metadata"`
	Timeout  float64           `json:"timeout"`
}

type answer struct {
	By     map[string]int `json:"by"`
	Errors map[string]int `json:"errors"`
	Detail string         `json:"detail"`
}

// codeName spells a status code as gRPC's other languages do: DeadlineExceeded → DEADLINE_EXCEEDED.
func codeName(code fmt.Stringer) string {
	var out strings.Builder
	for i, r := range code.String() {
		if i > 0 && unicode.IsUpper(r) {
			out.WriteByte('_')
		}
		out.WriteRune(unicode.ToUpper(r))
	}
	return out.String()
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goclient TARGET (dials xds:///TARGET)")
		os.Exit(2)
	}
	conn, err := grpc.NewClient("xds:///"+os.Args[1],
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	lines := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for lines.Scan() {
		var command batch
		if err := json.Unmarshal(lines.Bytes(), &command); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		result := answer{By: map[string]int{}, Errors: map[string]int{}}
		pairs := []string{}
		for key, value := range command.Metadata {
			pairs = append(pairs, key, value)
		}
		for range command.Calls {
			timeout := time.Duration(command.Timeout * float64(time.Second))
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			ctx = metadata.AppendToOutgoingContext(ctx, pairs...)
			request, reply := []byte{}, []byte{}
			err := conn.Invoke(ctx, method, &request, &reply)
			cancel()
			if err != nil {
				failure := status.Convert(err)
				result.Errors[codeName(failure.Code())]++
				if result.Detail == "" {
					result.Detail = failure.Message()
				}
				continue
			}
			result.By[string(reply)]++
		}
		if err := out.Encode(result); err != nil {
			os.Exit(1)
		}
	}
}
