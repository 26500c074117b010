-- Test backend under mod_lua: X-SendFile from the query's `file`, and a
-- body that must be discarded.
function handle(r)
    local args = r:parseargs()
    if args.file then
        r.headers_out['X-SendFile'] = args.file
    end
    r:puts(string.rep('l', 5000))
    return apache2.OK
end
