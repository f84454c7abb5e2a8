// Package search is paysim's embedded Elasticsearch: an Elasticsearch 8
// compatible HTTP API (the subset the log shipper, the checkers and a user
// with curl or the official go-elasticsearch client need) over in-memory
// bleve indices.
//
// A Store holds every index. It models a cluster whose indices are fully
// replicated to every node, so any node that is up can serve every document.
// A Node is one Elasticsearch node (one per Availability Zone): an HTTP
// frontend over the shared Store that can be killed and restarted on the same
// address.
//
// As in ES, writes are visible to GET at once and to search after a
// refresh: every RefreshInterval, on POST /_refresh, with ?refresh=true or
// wait_for, or when 10,000 writes are pending. Indices are scorch bleve
// indices: with NewStoreIn each refresh adds a segment that scorch persists
// and merges under the store's directory (removed on Close or delete), so
// a long run's logs live in files; NewStore keeps unmerged segments in
// memory. Document sources stay in memory for GET. Strings are mapped as
// ES dynamic mapping does: an analysed text field plus an exact ".keyword"
// subfield (ignore_above 256); RFC 3339 strings become dates; numbers are
// numeric; nested objects become dotted field names. Numbers and dates are
// indexed as Elasticsearch indexes points, one term a value (pointRange
// answers range queries on them).
package search
