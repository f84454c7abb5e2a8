//go:build warm

package main

import (
	_ "github.com/Shopify/toxiproxy/v2"
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/blevesearch/bleve/v2"
	_ "github.com/elastic/go-elasticsearch/v8"
	_ "github.com/go-mysql-org/go-mysql/server"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/pingcap/failpoint"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/tsenart/vegeta/v12/lib"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "modernc.org/sqlite"
)

func main() {}
