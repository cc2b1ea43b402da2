module github.com/libmq/libmq/bindings/go

go 1.19
