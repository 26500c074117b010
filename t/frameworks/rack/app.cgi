#!/usr/bin/ruby
# A Rack application as a CGI script (Rack::Handler::CGI), serving files
# with Rack::Files behind Rack::Sendfile: the middleware Rails and
# Sinatra apps use.  Rack::Files answers ranges itself (206) and returns a
# body that responds to to_path; Rack::Sendfile then replaces the body
# with an empty one, 'Content-Length: 0' and the offload header.
#
# Current Rack ignores a client's (or server's) X-Sendfile-Type request
# header, so the variation is configured here, as Rack documents:
#   /x/<name>      use Rack::Sendfile, 'X-Sendfile'
#   /accel/<name>  use Rack::Sendfile, 'X-Accel-Redirect', [[root, '/fw-protected/']]
#   /nginx/<name>  use Rack::Sendfile, 'X-Accel-Redirect', as an app behind
#                  nginx has it: the mapping comes from the X-Accel-Mapping
#                  request header (XSendFileAccelMapping)
require 'rack'

files = File.join(ENV.fetch('DOCUMENT_ROOT'), 'files', 'fw')

app = Rack::Builder.new do
  map '/x' do
    use Rack::Sendfile, 'X-Sendfile'
    run Rack::Files.new(files)
  end
  map '/accel' do
    use Rack::Sendfile, 'X-Accel-Redirect', [[Regexp.escape("#{files}/"), '/fw-protected/']]
    run Rack::Files.new(files)
  end
  map '/nginx' do
    use Rack::Sendfile, 'X-Accel-Redirect'
    run Rack::Files.new(files)
  end
end

Rack::Handler::CGI.run(app)
