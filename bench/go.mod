module github.com/keyward/keyward/bench

go 1.26.0

require (
	github.com/MicahParks/keyfunc/v3 v3.9.2
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/keyward/keyward v0.0.0
)

require (
	github.com/MicahParks/jwkset v0.11.4 // indirect
	github.com/go-json-experiment/json v1.27.2 // indirect
	golang.org/x/time v0.16.0 // indirect
)

replace github.com/keyward/keyward => ../
