module github.com/keyward/keyward/examples

go 1.26.0

require (
	github.com/keyward/keyward v0.0.0
	golang.org/x/oauth2 v0.37.0
)

require (
	github.com/go-json-experiment/json v1.27.2 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	golang.org/x/net v0.63.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)

replace github.com/keyward/keyward => ../
