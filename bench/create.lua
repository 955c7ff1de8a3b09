-- wrk: POST /api/v1/items with a small JSON body (Authorization header comes from -H).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name": "bench", "description": "created by make bench", "quantity": 1}'
