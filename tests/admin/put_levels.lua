-- wrk script: concurrent PUT /alamos/levels, cycling through the bodies in
-- ADMIN_BODIES (separated by `;`), with the token from ALAMOS_ADMIN_TOKEN.
local token = os.getenv("ALAMOS_ADMIN_TOKEN")
local bodies = {}
for body in string.gmatch(os.getenv("ADMIN_BODIES"), "[^;]+") do
    table.insert(bodies, body)
end
local counter = 0

wrk.method = "PUT"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "text/plain"

function request()
    counter = counter + 1
    return wrk.format("PUT", nil, nil, bodies[(counter % #bodies) + 1])
end
