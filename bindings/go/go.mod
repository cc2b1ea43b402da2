module example.invalid/libmq/bindings/go

go 1.19
